"""Database layer: SQLModel tables, the company-scoped session, migrations, demo data, CSV import."""
