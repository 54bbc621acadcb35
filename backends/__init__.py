"""sncc.backends: code generators and simulators that consume the spiking IR."""
