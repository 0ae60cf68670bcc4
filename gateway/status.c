/* gateway/status.c: written next. */
