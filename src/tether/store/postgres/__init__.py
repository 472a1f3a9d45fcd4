"""PostgreSQL backend (``pip install 'tether[postgres]'``): psycopg 3 with a connection pool."""
