"""Database layer: SQLModel tables, the company-scoped session, migrations, demo, CSV import."""
