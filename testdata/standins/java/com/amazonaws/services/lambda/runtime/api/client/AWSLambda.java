package com.amazonaws.services.lambda.runtime.api.client;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.HttpURLConnection;
import java.net.MalformedURLException;
import java.net.Proxy;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A stand-in for the AWS Lambda Java runtime interface client
 * (com.amazonaws:aws-lambda-java-runtime-interface-client), written for
 * rtbuild's tests.
 *
 * <p>The published client (Maven Central) cannot be reached from rtbuild's test
 * machines, so the test world compiles this class (javac --release 8) into a
 * jar of the published jar's name and serves it where the catalog expects
 * it. It is started the same way ({@code java -cp '/var/runtime/lib/*'
 * com.amazonaws.services.lambda.runtime.api.client.AWSLambda HANDLER}) and
 * speaks the same Runtime API using only the JDK, but its handler model is
 * deliberately small: the handler {@code pkg.Class::method} (method
 * {@code handleRequest} when omitted), loaded from LAMBDA_TASK_ROOT and the
 * jars in LAMBDA_TASK_ROOT/lib, is a public method taking the event as a JSON
 * string, and optionally the context as a {@code Map<String, Object>}
 * (awsRequestId, functionName, functionVersion, memoryLimitInMB,
 * invokedFunctionArn, logGroupName, logStreamName, remainingTimeInMillis,
 * deadlineMs), and returning its result as a JSON string (void or null is
 * JSON null). A failure to load the handler goes to /runtime/init/error and
 * the client exits with status 1; an exception thrown by the handler goes to
 * /runtime/invocation/{id}/error as {"errorMessage", "errorType" (the
 * exception's class name), "stackTrace"} with the
 * Lambda-Runtime-Function-Error-Type header.
 */
public final class AWSLambda {
    static final String API_PREFIX = "/2018-06-01";
    static final String ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type";

    private AWSLambda() {
    }

    public static void main(String[] args) throws IOException {
        String handler = args.length > 0 ? args[0] : System.getenv("_HANDLER");
        if (handler == null || handler.isEmpty()) {
            System.err.println("AWSLambda: no handler: pass it as the first argument or in _HANDLER");
            System.exit(2);
        }
        String api = System.getenv("AWS_LAMBDA_RUNTIME_API");
        if (api == null || api.isEmpty()) {
            System.err.println("AWSLambda: AWS_LAMBDA_RUNTIME_API is not set");
            System.exit(2);
        }
        String taskRoot = System.getenv("LAMBDA_TASK_ROOT");
        if (taskRoot == null || taskRoot.isEmpty()) {
            taskRoot = System.getProperty("user.dir");
        }
        RuntimeApi runtime = new RuntimeApi(api);
        Handler fn;
        try {
            fn = Handler.load(handler, taskRoot);
        } catch (Throwable t) {
            Throwable cause = unwrap(t);
            String doc = errorDoc(cause);
            System.out.println("Init error when loading handler " + handler + ": " + doc);
            runtime.post("/runtime/init/error", doc, cause.getClass().getName());
            System.exit(1);
            return;
        }
        while (true) {
            Invocation inv = runtime.next();
            if (inv.traceId != null) {
                System.setProperty("com.amazonaws.xray.traceHeader", inv.traceId);
            } else {
                System.clearProperty("com.amazonaws.xray.traceHeader");
            }
            String result;
            try {
                result = fn.invoke(inv);
            } catch (Throwable t) {
                Throwable cause = unwrap(t);
                String doc = errorDoc(cause);
                System.out.println(inv.requestId + " ERROR " + doc);
                runtime.post("/runtime/invocation/" + inv.requestId + "/error", doc, cause.getClass().getName());
                continue;
            }
            runtime.post("/runtime/invocation/" + inv.requestId + "/response", result == null ? "null" : result, null);
        }
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof InvocationTargetException || t instanceof ExceptionInInitializerError) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Lambda's error document for t, with the stack down to the reflective call. */
    static String errorDoc(Throwable t) {
        StringBuilder b = new StringBuilder();
        b.append("{\"errorMessage\":").append(t.getMessage() == null ? "null" : quote(t.getMessage()));
        b.append(",\"errorType\":").append(quote(t.getClass().getName()));
        b.append(",\"stackTrace\":[");
        boolean first = true;
        for (StackTraceElement e : t.getStackTrace()) {
            String c = e.getClassName();
            if (c.startsWith("sun.reflect.") || c.startsWith("jdk.internal.reflect.") || c.startsWith("java.lang.reflect.")
                    || c.startsWith(AWSLambda.class.getPackage().getName() + ".")) {
                break;
            }
            b.append(first ? "" : ",").append(quote(e.toString()));
            first = false;
        }
        return b.append("]}").toString();
    }

    /** s as a JSON string. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    b.append("\\\"");
                    break;
                case '\\':
                    b.append("\\\\");
                    break;
                case '\n':
                    b.append("\\n");
                    break;
                case '\r':
                    b.append("\\r");
                    break;
                case '\t':
                    b.append("\\t");
                    break;
                case '\b':
                    b.append("\\b");
                    break;
                case '\f':
                    b.append("\\f");
                    break;
                default:
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    /** One invocation handed out by GET /runtime/invocation/next. */
    static final class Invocation {
        String requestId;
        String invokedFunctionArn;
        String traceId;
        long deadlineMs;
        String event;
    }

    /** The handler: a public method (String) or (String, Map) returning String or void. */
    static final class Handler {
        final Object target;
        final Method method;

        Handler(Object target, Method method) {
            this.target = target;
            this.method = method;
        }

        static Handler load(String handler, String taskRoot) throws Exception {
            int sep = handler.indexOf("::");
            String className = sep < 0 ? handler : handler.substring(0, sep);
            String methodName = sep < 0 ? "handleRequest" : handler.substring(sep + 2);
            ClassLoader loader = new URLClassLoader(classPath(taskRoot), AWSLambda.class.getClassLoader());
            Thread.currentThread().setContextClassLoader(loader);
            Class<?> cls = Class.forName(className, true, loader);
            Method found = null;
            for (Method m : cls.getMethods()) {
                Class<?>[] p = m.getParameterTypes();
                boolean params = (p.length == 1 && p[0] == String.class)
                        || (p.length == 2 && p[0] == String.class && p[1] == Map.class);
                boolean returns = m.getReturnType() == String.class || m.getReturnType() == void.class;
                if (m.getName().equals(methodName) && params && returns) {
                    found = m;
                    break;
                }
            }
            if (found == null) {
                throw new NoSuchMethodException("No public method " + methodName + "(String) or " + methodName
                        + "(String, Map) returning String or void in class " + className);
            }
            Object target = Modifier.isStatic(found.getModifiers()) ? null : cls.getDeclaredConstructor().newInstance();
            return new Handler(target, found);
        }

        static URL[] classPath(String taskRoot) throws MalformedURLException {
            List<URL> urls = new ArrayList<URL>();
            File root = new File(taskRoot);
            urls.add(root.toURI().toURL());
            File[] jars = new File(root, "lib").listFiles();
            if (jars != null) {
                Arrays.sort(jars);
                for (File jar : jars) {
                    if (jar.getName().endsWith(".jar")) {
                        urls.add(jar.toURI().toURL());
                    }
                }
            }
            return urls.toArray(new URL[0]);
        }

        String invoke(Invocation inv) throws Exception {
            Object result;
            if (method.getParameterTypes().length == 1) {
                result = method.invoke(target, inv.event);
            } else {
                result = method.invoke(target, inv.event, context(inv));
            }
            return (String) result;
        }

        static Map<String, Object> context(Invocation inv) {
            Map<String, Object> c = new HashMap<String, Object>();
            c.put("awsRequestId", inv.requestId);
            c.put("invokedFunctionArn", inv.invokedFunctionArn);
            c.put("functionName", System.getenv("AWS_LAMBDA_FUNCTION_NAME"));
            c.put("functionVersion", System.getenv("AWS_LAMBDA_FUNCTION_VERSION"));
            c.put("logGroupName", System.getenv("AWS_LAMBDA_LOG_GROUP_NAME"));
            c.put("logStreamName", System.getenv("AWS_LAMBDA_LOG_STREAM_NAME"));
            int memory = 0;
            try {
                memory = Integer.parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
            } catch (NumberFormatException e) {
                // unset or not a number: 0
            }
            c.put("memoryLimitInMB", memory);
            c.put("deadlineMs", inv.deadlineMs);
            c.put("remainingTimeInMillis", Math.max(inv.deadlineMs - System.currentTimeMillis(), 0));
            return c;
        }
    }

    /** The Runtime API at host:port (AWS_LAMBDA_RUNTIME_API). */
    static final class RuntimeApi {
        final String base;

        RuntimeApi(String address) {
            base = "http://" + address + API_PREFIX;
        }

        Invocation next() throws IOException {
            HttpURLConnection c = (HttpURLConnection) new URL(base + "/runtime/invocation/next").openConnection(Proxy.NO_PROXY);
            c.setReadTimeout(0); // the next invocation may be long in coming
            int status = c.getResponseCode();
            if (status != 200) {
                throw new IOException("GET /runtime/invocation/next: HTTP " + status + ": " + new String(readAll(c.getErrorStream()), StandardCharsets.UTF_8));
            }
            Invocation inv = new Invocation();
            inv.event = new String(readAll(c.getInputStream()), StandardCharsets.UTF_8);
            inv.requestId = c.getHeaderField("Lambda-Runtime-Aws-Request-Id");
            inv.invokedFunctionArn = c.getHeaderField("Lambda-Runtime-Invoked-Function-Arn");
            inv.traceId = c.getHeaderField("Lambda-Runtime-Trace-Id");
            try {
                inv.deadlineMs = Long.parseLong(c.getHeaderField("Lambda-Runtime-Deadline-Ms"));
            } catch (NumberFormatException e) {
                inv.deadlineMs = 0;
            }
            return inv;
        }

        void post(String path, String body, String errorType) throws IOException {
            byte[] data = body.getBytes(StandardCharsets.UTF_8);
            HttpURLConnection c = (HttpURLConnection) new URL(base + path).openConnection(Proxy.NO_PROXY);
            c.setRequestMethod("POST");
            c.setDoOutput(true);
            c.setRequestProperty("Content-Type", "application/json");
            if (errorType != null) {
                c.setRequestProperty(ERROR_TYPE_HEADER, errorType);
            }
            c.setFixedLengthStreamingMode(data.length);
            OutputStream out = c.getOutputStream();
            try {
                out.write(data);
            } finally {
                out.close();
            }
            int status = c.getResponseCode();
            if (status >= 300) {
                System.err.println("AWSLambda: POST " + path + ": HTTP " + status + ": "
                        + new String(readAll(c.getErrorStream()), StandardCharsets.UTF_8));
            } else {
                readAll(c.getInputStream());
            }
        }

        static byte[] readAll(InputStream in) throws IOException {
            if (in == null) {
                return new byte[0];
            }
            try {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                byte[] buf = new byte[8192];
                for (int n; (n = in.read(buf)) > 0;) {
                    out.write(buf, 0, n);
                }
                return out.toByteArray();
            } finally {
                in.close();
            }
        }
    }
}
