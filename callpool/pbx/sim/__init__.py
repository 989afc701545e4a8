"""A loopback AMI server that plays captured and generated calls: a PBX for tests and demos."""
