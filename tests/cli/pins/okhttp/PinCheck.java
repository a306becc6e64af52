// The OkHttp side of tests/cli/pins/okhttp/mod.rs: one JVM for every case.
//
// The CertificatePinner is the one the rendered Kotlin builds
// (`PinsKt.getCertificatePinner()`, compiled from `pins render --format
// okhttp` with kotlinc); this file only supplies what an app supplies:
// a trust store (the test root), a DNS that sends every name to
// 127.0.0.1, and the requests.
//
// usage: java PinCheck ROOT.pem CASES   (CASES: one "host port" a line)
// prints one line per case: "ok <status>" or "fail <exception>: <message>"

import java.io.FileInputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import okhttp3.CertificatePinner;
import okhttp3.ConnectionPool;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;

public final class PinCheck {
    public static void main(String[] args) throws Exception {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        int n = 0;
        try (FileInputStream in = new FileInputStream(args[0])) {
            for (java.security.cert.Certificate c : cf.generateCertificates(in)) {
                store.setCertificateEntry("root" + n++, (X509Certificate) c);
            }
        }
        TrustManagerFactory tmf =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(store);
        X509TrustManager tm = (X509TrustManager) tmf.getTrustManagers()[0];
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, new javax.net.ssl.TrustManager[] {tm}, null);

        CertificatePinner pinner = PinsKt.getCertificatePinner();
        List<String> cases = Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8);
        for (String line : cases) {
            if (line.trim().isEmpty()) continue;
            String[] parts = line.trim().split(" ");
            String host = parts[0];
            int port = Integer.parseInt(parts[1]);
            // a new client (and pool) per case: no connection is reused
            OkHttpClient client = new OkHttpClient.Builder()
                .sslSocketFactory(ssl.getSocketFactory(), tm)
                .certificatePinner(pinner)
                .connectionPool(new ConnectionPool(0, 1, TimeUnit.SECONDS))
                .dns(name -> Collections.singletonList(InetAddress.getByName("127.0.0.1")))
                .connectTimeout(10, TimeUnit.SECONDS)
                .readTimeout(10, TimeUnit.SECONDS)
                .build();
            Request req = new Request.Builder().url("https://" + host + ":" + port + "/").build();
            try (Response r = client.newCall(req).execute()) {
                System.out.println("ok " + r.code());
            } catch (Exception e) {
                String msg = String.valueOf(e.getMessage()).split("\n")[0];
                System.out.println("fail " + e.getClass().getName() + ": " + msg);
            }
        }
    }
}
