package example;

import java.util.Map;

/**
 * Test handlers for rtbuild's java runtimes, for the stand-in runtime
 * interface client (testdata/standins/java): a handler takes the event as a
 * JSON string (and optionally the context as a map) and returns its result
 * as a JSON string. Handler example.Hello::handleRequest.
 */
public class Hello {
    public String handleRequest(String event) {
        return "{\"hello\":" + stringField(event, "name") + ",\"runtime\":\"java\"}";
    }

    /** Returns what the runtime handed in, for tests of the context. */
    public String contextInfo(String event, Map<String, Object> context) {
        return "{\"awsRequestId\":\"" + context.get("awsRequestId") + "\""
                + ",\"functionName\":\"" + context.get("functionName") + "\""
                + ",\"memoryLimitInMB\":" + context.get("memoryLimitInMB")
                + ",\"invokedFunctionArn\":\"" + context.get("invokedFunctionArn") + "\""
                + ",\"remainingTimeInMillis\":" + context.get("remainingTimeInMillis")
                + ",\"javaVersion\":\"" + System.getProperty("java.specification.version") + "\"}";
    }

    public static String fail(String event) {
        throw new IllegalStateException("hello failed for " + stringField(event, "name").replace("\"", ""));
    }

    /** The JSON string value of a top-level field ("null" when absent); enough for test events. */
    static String stringField(String json, String field) {
        String key = "\"" + field + "\"";
        int i = json.indexOf(key);
        if (i < 0) {
            return "null";
        }
        i = json.indexOf('"', json.indexOf(':', i + key.length()) + 1);
        int end = i + 1;
        while (end < json.length() && json.charAt(end) != '"') {
            if (json.charAt(end) == '\\') {
                end++;
            }
            end++;
        }
        return json.substring(i, end + 1);
    }
}
