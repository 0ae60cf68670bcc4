/* health.c - grpc.health.v1.Health/Check. */
#include <string.h>

#include "health.pb-c.h"
#include "server.h"

static void check_message(vg_call *call, const uint8_t *data, size_t len)
{
    Grpc__Health__V1__HealthCheckRequest *req =
        grpc__health__v1__health_check_request__unpack(NULL, len, data);
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

    if (!req) {
        vg_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request is not a valid HealthCheckRequest message");
        return;
    }
    /* The whole server, or one of its services, by its full name. */
    if (req->service[0] && strcmp(req->service, "vitalgate.v1.Query") != 0 &&
        strcmp(req->service, "vitalgate.v1.Ingest") != 0) {
        vg_call_finish(call, GRPC_STATUS_NOT_FOUND, "unknown service");
    } else {
        resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        vg_call_reply(call, &resp.base);
        vg_call_finish(call, GRPC_STATUS_OK, "%s", "");
    }
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
}

/* Any known principal may ask whether the gateway serves. */
const vg_method vg_method_health = {
    "/grpc.health.v1.Health/Check", 0, -1, check_message, NULL, NULL};
