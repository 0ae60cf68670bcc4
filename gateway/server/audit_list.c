/* audit_list.c - Audit.List: auditors read the audit log. */
#include "server.h"

static void audit_list_message(vg_call *call, const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
    vg_call_finish(call, GRPC_STATUS_UNIMPLEMENTED, "audit listing is not available yet");
}

const vg_method vg_method_audit_list = {
    "/vitalgate.v1.Audit/List", 0, VG_ROLE_KIND_AUDITOR, audit_list_message, NULL, NULL};
