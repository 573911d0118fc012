"""The ticket store: models, migrations, catalog, folios, routing, SLA, status lifecycle and audit trail."""
