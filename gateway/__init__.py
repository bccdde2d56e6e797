"""The gateway: the only public door. Routes to the services, in process or over HTTP."""
