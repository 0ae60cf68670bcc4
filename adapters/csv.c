/* adapters/csv.c: written next. */
