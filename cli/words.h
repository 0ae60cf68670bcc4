/* words.h - the API's enum values as the words vitalctl prints. */
#ifndef VC_WORDS_H
#define VC_WORDS_H

#include "vitalgate.pb-c.h"

/* "NO_RECORD", ...; "" for the unspecified value. */
const char *vc_death_status_word(Vitalgate__V1__DeathStatus s);
const char *vc_name_check_word(Vitalgate__V1__NameCheck c);
const char *vc_certificate_word(Vitalgate__V1__CertificateState c);

/* Writes one CSV field to stdout, quoted when it holds a comma, a quote or a line break,
 * then ',' or (last) a newline. */
void vc_put_csv_field(const char *s, int last);

#endif
