/* fuzz_csv.c - libFuzzer target for the export reader: arbitrary bytes go through
 * vg_csv_open_buffer and every record is read; each field is also handed to the date and
 * ID number parsers, which see the same outside input in the adapters. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vg_csv.h"
#include "vg_date.h"
#include "vg_normalise.h"

/* Called by libFuzzer once per input; returns 0. Aborts when a reader promise breaks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_csv *csv = NULL;
    vg_csv_row row;
    char why[256];
    size_t last = 0, ncols;

    if (vg_csv_open_buffer((const char *)data, size, &csv, why, sizeof(why)) != VG_OK) {
        if (csv != NULL || memchr(why, '\0', sizeof(why)) == NULL)
            abort();
        return 0;
    }
    ncols = vg_csv_columns(csv);
    if (ncols == 0)
        abort();
    for (size_t i = 0; i < ncols; i++) {
        if (vg_csv_column(csv, i) == NULL ||
            vg_csv_find_column(csv, vg_csv_column(csv, i)) > (long)i)
            abort();
    }

    while (vg_csv_next(csv, &row)) {
        /* Records come in file order and are never empty. */
        if (row.line <= last || row.nfields == 0 || row.fields == NULL)
            abort();
        last = row.line;
        if (row.error == NULL && row.nfields > ncols)
            abort();
        for (size_t i = 0; i < row.nfields; i++) {
            char id[19];
            vg_date d;
            vg_datetime t;

            (void)strlen(row.fields[i]);
            vg_date_parse(row.fields[i], &d, why, sizeof(why));
            vg_datetime_parse(row.fields[i], &t, why, sizeof(why));
            vg_id_normalise(row.fields[i], id, why, sizeof(why));
        }
    }
    vg_csv_close(csv);
    return 0;
}
