"""Vector stores (ids + vectors only), the SQLite record store, and the on-disk index folder that joins them."""
