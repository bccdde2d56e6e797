"""The common library of every Xieshang service: config, db, bus, events, auth, metrics, logs."""
