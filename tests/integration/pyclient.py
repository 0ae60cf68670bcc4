"""A client nobody here wrote: Python grpcio, with message classes made by protoc at test
time from proto/ (Debian's /usr/bin/python3 carries grpcio and protobuf)."""
import importlib
import os
import subprocess
import sys

import grpc

import harness as h


def load_messages(outdir):
    """Runs protoc --python_out into outdir and imports the two message modules."""
    proto = os.path.join(h.SOURCE_DIR, "proto")
    subprocess.run(["protoc", "--python_out=" + outdir, "-I" + proto,
                    os.path.join(proto, "vitalgate.proto"), os.path.join(proto, "health.proto")],
                   check=True)
    sys.path.insert(0, outdir)
    return importlib.import_module("vitalgate_pb2"), importlib.import_module("health_pb2")


def channel(gw, principal):
    """A mutual-TLS channel as principal (None: no client certificate)."""
    pki = gw.pki
    with open(os.path.join(pki, "ca.crt"), "rb") as f:
        ca = f.read()
    key = cert = None
    if principal:
        with open(os.path.join(pki, principal + ".key"), "rb") as f:
            key = f.read()
        with open(os.path.join(pki, principal + ".crt"), "rb") as f:
            cert = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                         certificate_chain=cert)
    return grpc.secure_channel(gw.target, creds,
                               options=[("grpc.max_send_message_length", 64 << 20)])


def unary(ch, method, req_cls=None, resp_cls=None):
    return ch.unary_unary(method,
                          request_serializer=(req_cls.SerializeToString if req_cls else None),
                          response_deserializer=(resp_cls.FromString if resp_cls else None))


def stream(ch, method, req_cls=None, resp_cls=None):
    return ch.stream_stream(method,
                            request_serializer=(req_cls.SerializeToString if req_cls else None),
                            response_deserializer=(resp_cls.FromString if resp_cls else None))


def code_of(fn):
    """Calls fn; returns the gRPC status code it ended with (OK when it returned)."""
    try:
        r = fn()
        if hasattr(r, "__iter__") and not isinstance(r, (bytes, str)):
            list(r)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()
