"""Local stand-ins for development, tests and the benchmark: free ports, and a local S3 server (moto's, over real
HTTP) for ``s3://`` when no connection is configured. Tasks never import this package."""
