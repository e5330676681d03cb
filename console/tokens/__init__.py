"""The 6clicks API key and long-lived token: generation, status and expiry, probing and rotation."""
