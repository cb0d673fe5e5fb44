"""The API documentation works offline: its pages name only files the service itself serves."""

import re

from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.settings import Settings
from tests.auth_support import login_client
from tests.support import FixedClock


def test_docs_pages_load_every_asset_from_the_service(settings: Settings, engine: Engine, clock: FixedClock) -> None:
    with login_client(create_app(settings, clock=clock, engine=engine), Role.NURSE) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200
            urls = re.findall(r"""(?:src|href)\s*[=:]\s*['"]([^'"]+)['"]""", html.text)
            assert urls, page
            for url in urls:
                assert not url.startswith(("http:", "https:", "//")), f"{page} loads {url} from outside"
                if url.startswith("/static/"):
                    assert client.get(url).status_code == 200, url
