"""The refill station's pages: server-rendered HTML over the same use cases as the API.

Every asset is served by the service itself (no CDN: stations are often offline), the API
documentation's Swagger UI and ReDoc files included.
"""

from pump_service.web.assets import install_assets

__all__ = ["install_assets"]
