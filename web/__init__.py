"""The pages and APIs people use in a browser or a client.

Areas, each a sub-package with its own route table (``routes(ctx)``), listed once in ``web.routes``:

- ``web.console``: the staff console under ``/console`` (login, sessions, CSRF, department scoping, escalation
  inbox, ticket desk, dashboards);
- ``web.public``: the public site (``/``, department commitments, "Cómo medimos", folio lookup, map);
- ``web.opendata``: open data exports (``/datos``), Open311 GeoReport v2 (``/open311/v2``) and the web report
  channel (``/reportar``).

Shared parts: ``web.context`` (what a page handler may reach), ``web.templating`` (Jinja2 pages),
``web.security`` (security headers), ``web.csrf`` (tokens for state-changing forms), ``web.publication`` (the one
whitelist of what is public, and the scrubbing of personal data). Static files are bundled in ``web/static``.
"""
