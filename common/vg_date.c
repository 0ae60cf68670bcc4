/* common/vg_date.c: written next. */
