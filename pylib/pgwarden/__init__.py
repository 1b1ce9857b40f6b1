"""pgwarden: detect customer-data theft and unauthorized access in PostgreSQL.

Everything that decides lives in the database schema ``warden`` (plpgsql);
this package installs and upgrades it, runs it on a schedule, delivers
notifications, imports logs and tests rules.
"""

__version__ = "0.1.0"
