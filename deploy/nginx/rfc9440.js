// RFC 9440 for nginx (njs): the client certificate of this connection as a Client-Cert
// header value, `:` base64(DER) `:`, or nothing without one. Used by the variant described in
// bulwark.conf for nodes that read RFC 9440 headers (no `[mtls] header`).
function client_cert(r) {
    var pem = r.variables.ssl_client_raw_cert;
    if (!pem) {
        return '';
    }
    var b64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    return ':' + b64 + ':';
}

export default { client_cert };
