"""Hardware: inventory, fingerprint, NVML access and telemetry samplers."""
