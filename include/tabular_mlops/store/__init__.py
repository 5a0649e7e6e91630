"""The ground floor for SQL tables: the prediction log, the promotion ledger, the source database, bulk writes."""
