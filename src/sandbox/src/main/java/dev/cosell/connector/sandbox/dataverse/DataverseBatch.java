package dev.cosell.connector.sandbox.dataverse;

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.cosell.connector.sandbox.dataverse.DataverseApi.Request;
import dev.cosell.connector.sandbox.dataverse.DataverseApi.Response;

/**
 * {@code POST $batch}: a {@code multipart/mixed} body of {@code application/http} requests and change
 * sets (nested {@code multipart/mixed}, atomic). Requests in a change set may refer to an earlier
 * one's created record as {@code $<Content-ID>}. Without {@code Prefer: odata.continue-on-error}
 * the batch stops at the first failure.
 */
final class DataverseBatch {

    private static final Pattern BOUNDARY = Pattern.compile("boundary=\"?([^\";]+)\"?");
    private static final Pattern REF = Pattern.compile("\\$(\\d+)");

    /** One part of a multipart body: its MIME headers and content. */
    private record Part(Map<String, String> headers, String content) {
    }

    private DataverseBatch() {
    }

    static Response execute(DataverseApi api, Request batch) {
        String contentType = batch.header("Content-Type");
        Matcher b = contentType == null ? null : BOUNDARY.matcher(contentType);
        if (b == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/mixed") || !b.find()) {
            return DataverseApi.error(400, "0x80048d19",
                    "The batch request must have a Content-Type of multipart/mixed with a boundary.");
        }
        List<Part> parts;
        try {
            parts = parts(new String(batch.body(), StandardCharsets.UTF_8), b.group(1));
        } catch (IllegalArgumentException e) {
            return DataverseApi.error(400, "0x80048d19", "The batch request body is not valid: " + e.getMessage());
        }
        int requestCount = 0;
        for (Part p : parts) {
            Matcher inner = BOUNDARY.matcher(p.headers().getOrDefault("content-type", ""));
            requestCount += inner.find() ? parts(p.content(), inner.group(1)).size() : 1;
        }
        if (requestCount > DataverseApi.MAX_BATCH_REQUESTS) {
            return DataverseApi.error(400, "0x80060891", "The number of requests in the batch (" + requestCount
                    + ") exceeds the limit of " + DataverseApi.MAX_BATCH_REQUESTS + ".");
        }
        boolean continueOnError = batch.header("Prefer") != null
                && batch.header("Prefer").contains("odata.continue-on-error");
        String responseBoundary = "batchresponse_" + UUID.randomUUID();
        StringBuilder out = new StringBuilder();
        for (Part p : parts) {
            String partType = p.headers().getOrDefault("content-type", "");
            Matcher inner = BOUNDARY.matcher(partType);
            boolean failed;
            if (partType.toLowerCase(Locale.ROOT).startsWith("multipart/mixed") && inner.find()) {
                List<Part> items = parts(p.content(), inner.group(1));
                List<Request> requests = new ArrayList<>();
                List<String> contentIds = new ArrayList<>();
                for (Part item : items) {
                    requests.add(request(api, item, batch));
                    contentIds.add(item.headers().get("content-id"));
                }
                List<Response> responses = api.changeSet(requests.size(), (i, previous) -> {
                    Map<String, String> created = new HashMap<>();
                    for (int j = 0; j < previous.size(); j++) {
                        String entityId = api.createdEntityId(requests.get(j), previous.get(j));
                        if (contentIds.get(j) != null && entityId != null) {
                            created.put(contentIds.get(j), entityId);
                        }
                    }
                    return resolveReferences(api, requests.get(i), created);
                });
                failed = responses.size() == 1 && responses.get(0).status() >= 400;
                out.append("--").append(responseBoundary).append("\r\n");
                if (failed) {
                    appendHttp(out, responses.get(0), null);
                } else {
                    String csBoundary = "changesetresponse_" + UUID.randomUUID();
                    out.append("Content-Type: multipart/mixed; boundary=").append(csBoundary).append("\r\n\r\n");
                    for (int i = 0; i < responses.size(); i++) {
                        out.append("--").append(csBoundary).append("\r\n");
                        appendHttp(out, responses.get(i), contentIds.get(i));
                    }
                    out.append("--").append(csBoundary).append("--\r\n");
                }
            } else {
                Response resp = api.handle(request(api, p, batch));
                failed = resp.status() >= 400;
                out.append("--").append(responseBoundary).append("\r\n");
                appendHttp(out, resp, null);
            }
            if (failed && !continueOnError) {
                // Documented: the batch answers 400 with only the failing part; later parts do not run.
                StringBuilder only = new StringBuilder("--").append(responseBoundary).append("\r\n");
                only.append(out.substring(out.lastIndexOf("--" + responseBoundary + "\r\n") + responseBoundary.length() + 4));
                only.append("--").append(responseBoundary).append("--\r\n");
                return new Response(400, Map.of("Content-Type", "multipart/mixed; boundary=" + responseBoundary,
                        "OData-Version", "4.0"), only.toString().getBytes(StandardCharsets.UTF_8));
            }
        }
        out.append("--").append(responseBoundary).append("--\r\n");
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Content-Type", "multipart/mixed; boundary=" + responseBoundary);
        headers.put("OData-Version", "4.0");
        if (continueOnError) {
            headers.put("Preference-Applied", "odata.continue-on-error");
        }
        return new Response(200, headers, out.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static Request resolveReferences(DataverseApi api, Request r, Map<String, String> created) {
        if (created.isEmpty()) {
            return r;
        }
        String path = r.path();
        Matcher m = REF.matcher(path);
        if (path.startsWith("$") && m.lookingAt() && created.containsKey(m.group(1))) {
            path = strip(api, created.get(m.group(1))) + path.substring(m.end());
        }
        String body = new String(r.body(), StandardCharsets.UTF_8);
        Matcher bm = Pattern.compile("\"\\$(\\d+)\"").matcher(body);
        StringBuilder sb = new StringBuilder();
        while (bm.find()) {
            String target = created.get(bm.group(1));
            bm.appendReplacement(sb, Matcher.quoteReplacement(target == null ? bm.group() : "\"" + target + "\""));
        }
        bm.appendTail(sb);
        return new Request(r.method(), path, r.query(), r.rawQuery(), r.headers(),
                sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static Request request(DataverseApi api, Part part, Request batch) {
        String content = part.content();
        int headerEnd = content.indexOf("\r\n\r\n");
        int sep = 4;
        if (headerEnd < 0) {
            headerEnd = content.indexOf("\n\n");
            sep = 2;
        }
        String head = headerEnd < 0 ? content : content.substring(0, headerEnd);
        String body = headerEnd < 0 ? "" : content.substring(headerEnd + sep);
        String[] lines = head.split("\r?\n");
        String[] requestLine = lines[0].trim().split(" ");
        if (requestLine.length < 2) {
            throw new IllegalArgumentException("bad request line '" + lines[0] + "'");
        }
        Map<String, String> headers = new LinkedHashMap<>(batch.headers());
        headers.remove("content-type");
        headers.remove("content-length");
        headers.remove("prefer");
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) {
                headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
            }
        }
        String target = strip(api, requestLine[1]);
        String path = target;
        String rawQuery = "";
        int q = target.indexOf('?');
        if (q >= 0) {
            path = target.substring(0, q);
            rawQuery = target.substring(q + 1);
        }
        Map<String, String> query = new LinkedHashMap<>();
        for (String pair : rawQuery.split("&")) {
            if (!pair.isEmpty()) {
                int eq = pair.indexOf('=');
                query.put(URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8),
                        eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return new Request(requestLine[0].toUpperCase(Locale.ROOT), URLDecoder.decode(path.replace("+", "%2B"),
                StandardCharsets.UTF_8), query, rawQuery, headers, body.trim().getBytes(StandardCharsets.UTF_8));
    }

    /** Makes an absolute or rooted URL relative to /api/data/v9.2/. */
    private static String strip(DataverseApi api, String url) {
        String u = url;
        if (u.startsWith("http://") || u.startsWith("https://")) {
            URI uri = URI.create(u.replace(" ", "%20"));
            u = uri.getRawPath() + (uri.getRawQuery() != null ? "?" + uri.getRawQuery() : "");
        }
        if (u.startsWith(DataverseApi.PREFIX)) {
            u = u.substring(DataverseApi.PREFIX.length());
        } else if (u.startsWith("/")) {
            u = u.substring(1);
        }
        return u;
    }

    private static void appendHttp(StringBuilder out, Response r, String contentId) {
        out.append("Content-Type: application/http\r\n");
        out.append("Content-Transfer-Encoding: binary\r\n");
        if (contentId != null) {
            out.append("Content-ID: ").append(contentId).append("\r\n");
        }
        out.append("\r\n");
        out.append("HTTP/1.1 ").append(r.status()).append(' ').append(reason(r.status())).append("\r\n");
        r.headers().forEach((k, v) -> out.append(k).append(": ").append(v).append("\r\n"));
        if (r.headers().containsKey("OData-EntityId")) {
            out.append("Location: ").append(r.headers().get("OData-EntityId")).append("\r\n");
        }
        out.append("\r\n");
        if (r.body() != null && r.body().length > 0) {
            out.append(r.bodyText()).append("\r\n");
        }
    }

    /** Splits a multipart body at its boundary; the preamble and epilogue are dropped. */
    private static List<Part> parts(String body, String boundary) {
        String delimiter = "--" + boundary;
        List<Part> parts = new ArrayList<>();
        int pos = body.indexOf(delimiter);
        if (pos < 0) {
            throw new IllegalArgumentException("boundary '" + boundary + "' not found");
        }
        while (true) {
            int start = pos + delimiter.length();
            if (body.startsWith("--", start)) {
                break;
            }
            int next = body.indexOf(delimiter, start);
            if (next < 0) {
                throw new IllegalArgumentException("the closing boundary '" + delimiter + "--' is missing");
            }
            String raw = body.substring(start, next);
            raw = raw.replaceFirst("^\r?\n", "");
            raw = raw.replaceFirst("\r?\n$", "");
            int headerEnd = raw.indexOf("\r\n\r\n");
            int sep = 4;
            if (headerEnd < 0) {
                headerEnd = raw.indexOf("\n\n");
                sep = 2;
            }
            Map<String, String> headers = new LinkedHashMap<>();
            String head = headerEnd < 0 ? raw : raw.substring(0, headerEnd);
            for (String line : head.split("\r?\n")) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
                }
            }
            parts.add(new Part(headers, headerEnd < 0 ? "" : raw.substring(headerEnd + sep)));
            pos = next;
        }
        return parts;
    }

    private static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 201 -> "Created";
            case 204 -> "No Content";
            case 304 -> "Not Modified";
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 404 -> "Not Found";
            case 412 -> "Precondition Failed";
            case 429 -> "Too Many Requests";
            default -> "Status";
        };
    }
}
