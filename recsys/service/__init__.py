"""The recommendation service (FastAPI): `create_app` in `recsys.service.app`."""
