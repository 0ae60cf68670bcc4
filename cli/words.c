/* words.c - enum values as printed words, from the generated descriptors. */
#include "words.h"

#include <stdio.h>
#include <string.h>

static const char *word(const ProtobufCEnumDescriptor *d, int value, int unspecified)
{
    const ProtobufCEnumValue *v;

    if (value == unspecified)
        return "";
    v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : "";
}

const char *vc_death_status_word(Vitalgate__V1__DeathStatus s)
{
    return word(&vitalgate__v1__death_status__descriptor, (int)s, 0);
}

const char *vc_name_check_word(Vitalgate__V1__NameCheck c)
{
    return word(&vitalgate__v1__name_check__descriptor, (int)c, 0);
}

const char *vc_certificate_word(Vitalgate__V1__CertificateState c)
{
    return word(&vitalgate__v1__certificate_state__descriptor, (int)c, 0);
}

void vc_put_csv_field(const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}
