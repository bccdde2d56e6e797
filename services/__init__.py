"""The four services. Each package exposes ``SPEC`` (see ``shared.service.ServiceSpec``)."""
