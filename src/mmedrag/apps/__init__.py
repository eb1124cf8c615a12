"""Applications built on the library (the offline demo); nothing in the library imports them."""
