"""The REST API for CMS integrators: thin DRF views over catalog, inference and review services."""
