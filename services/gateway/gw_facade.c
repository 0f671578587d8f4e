/* gw_facade.c: methods that are one call to one service. The gateway scopes
 * the request to the caller's organization (its org_id field, which every
 * service request has) and passes the service's reply through unchanged. */
#include "gw_api.h"
#include "xd/util.h"

#include <stdio.h>
#include <string.h>

typedef struct facade {
    const char *method;     /* Gateway method */
    gw_service svc;         /* the service that owns the data */
    const char *svc_method; /* its method, same request and reply types */
} facade;

static const facade facades[] = {
    {"GetEmailStatus", GW_SVC_VERIFY, "GetMessageStatus"},
    {"ListCaseNotes", GW_SVC_VERIFY, "ListCaseNotes"},
    {"ValidateRecipient", GW_SVC_VERIFY, "ValidateAddress"},
    {"DiagnoseDelivery", GW_SVC_VERIFY, "Diagnose"},
    {"ListSuppressions", GW_SVC_VERIFY, "ListSuppressions"},
    {"AddSuppression", GW_SVC_VERIFY, "AddSuppression"},
    {"RemoveSuppression", GW_SVC_VERIFY, "RemoveSuppression"},
    {"GetClientEmailCounts", GW_SVC_VERIFY, "GetEmailCounts"},
    {"GetDomainReport", GW_SVC_VERIFY, "GetDomainReport"},
    {"GetOrganizationHealth", GW_SVC_VERIFY, "GetOrgHealth"},
    {"IngestBounce", GW_SVC_VERIFY, "IngestBounce"},
    {"IngestComplaint", GW_SVC_VERIFY, "IngestComplaint"},
    {"CreateSupportTicket", GW_SVC_TICKET, "Create"},
    {"GetSupportTicket", GW_SVC_TICKET, "Get"},
    {"ListSupportTickets", GW_SVC_TICKET, "List"},
    {"UpdateSupportTicket", GW_SVC_TICKET, "Update"},
    {"AddTicketComment", GW_SVC_TICKET, "AddComment"},
    {"SetSmtpRelay", GW_SVC_SENDER, "SetRelay"},
    {"CreateDkimKey", GW_SVC_SENDER, "CreateDkimKey"},
    {"ListDkimKeys", GW_SVC_SENDER, "ListDkimKeys"},
    {"RotateDkimKey", GW_SVC_SENDER, "RotateDkimKey"},
    {"ListBanners", GW_SVC_SENDER, "ListBanners"},
    {"SetRateLimitPolicy", GW_SVC_RATELIMIT, "SetPolicy"},
};

static const facade *find(const char *method)
{
    for (size_t i = 0; i < XD_ARRAY_LEN(facades); i++)
        if (strcmp(facades[i].method, method) == 0)
            return &facades[i];
    return NULL;
}

int gw_facade_exists(const char *method)
{
    return find(method) != NULL;
}

xd_code gw_call_service(gw_ctx *ctx, gw_req *req, gw_service svc, const char *method,
                        const ProtobufCMessage *in, const ProtobufCMessageDescriptor *reply_desc,
                        ProtobufCMessage **out, xd_err *err)
{
    xd_call_options o;
    xd_code rc = gw_call_options(req, &o, err);
    if (rc != XD_OK)
        return rc;
    /* A fresh request id per call (o.request_id NULL): ids chosen by modules
     * must not meet in a service's dedup table across organizations. */
    rc = xd_client_call(gw_backends_client(ctx->backends, svc), &o, method, in, reply_desc,
                        req->arena, out, err);
    const char *name = gw_service_name(svc);
    if (rc != XD_OK && strncmp(err->message, name, strlen(name)) != 0) {
        char msg[XD_ERR_MESSAGE_MAX + 32];
        snprintf(msg, sizeof(msg), "%s: %s", name, err->message);
        xd_strlcpy(err->message, msg, sizeof(err->message)); /* cut at the limit */
    }
    return rc;
}

xd_code gw_forward(gw_ctx *ctx, gw_req *req, gw_service svc, const char *svc_method,
                   const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err)
{
    /* A shallow copy whose org_id the gateway sets: never the body's choice,
     * except an operator naming an organization that exists. */
    const ProtobufCMessageDescriptor *d = in->descriptor;
    ProtobufCMessage *scoped = xd_arena_alloc(req->arena, d->sizeof_message);
    memcpy(scoped, in, d->sizeof_message);
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, "org_id");
    if (f && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
        char **slot = (char **)((char *)scoped + f->offset);
        const char *org = NULL;
        xd_code rc = gw_target_org(ctx, req, *slot, &org, err);
        if (rc != XD_OK)
            return rc;
        *slot = xd_arena_strdup(req->arena, org);
    }
    /* Scoped first: another organization is NOT_FOUND even when the
     * service is down. */
    if (!ctx->backends)
        return xd_err_set(err, XD_UNAVAILABLE, "%s is not configured", gw_service_name(svc));
    ProtobufCMessage *reply = NULL;
    xd_code rc = gw_call_service(ctx, req, svc, svc_method, scoped, out->descriptor, &reply, err);
    if (rc != XD_OK)
        return rc;
    memcpy(out, reply, out->descriptor->sizeof_message);
    return XD_OK;
}

xd_code gw_facade_call(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                       xd_err *err)
{
    const facade *f = find(req->method);
    if (!f)
        return xd_err_set(err, XD_UNIMPLEMENTED, "%s is not built yet", req->method);
    return gw_forward(ctx, req, f->svc, f->svc_method, in, out, err);
}
