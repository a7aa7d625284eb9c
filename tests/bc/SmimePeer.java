// Bouncy Castle (1.72, Debian libbcprov/libbcpkix/libbcmail-java) as an interop peer for smime's tests.
//
// Compiled at test time by tests/conftest.py (bc_classpath fixture); driven by tests/test_bc_interop.py.
// One JVM start costs about half a second, so the peer runs a batch: `java SmimePeer batch FILE` reads
// one operation per line, arguments separated by tabs, and prints one line per operation:
// "OK <facts>" or "ERR <exception>". An operation that fails does not stop the batch.
//
//   sign     ALG MODE KEY.pk8 CERT.der EXTRA.der|- IN.mime OUT.eml FROM TO
//            ALG rsa|rsa-pss|ecdsa with a digest (rsa-pss-sha256, ecdsa-sha384, ...);
//            MODE detached (multipart/signed) or opaque (signed-data); S/MIME level, via bcmail.
//   verify   ROOT.der IN.eml OUT.mime      checks every signature and the chain to ROOT;
//            writes the signed content; prints the signature algorithm OIDs and signer emails.
//   encrypt  CIPHER KT RECIPIENT.der IN OUT.der   DER CMS: EnvelopedData, or AuthEnvelopedData
//            for *-gcm; KT rsa (PKCS#1 v1.5), rsa-oaep (SHA-256), ecdh (EC recipients).
//   decrypt  KEY.pk8 CERT.der IN.der OUT   DER CMS EnvelopedData or AuthEnvelopedData.

import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.*;
import java.util.*;

import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.mail.*;
import javax.mail.internet.*;

import org.bouncycastle.asn1.*;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.cms.CMSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.smime.*;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.mail.smime.*;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.OutputAEADEncryptor;
import org.bouncycastle.operator.OutputEncryptor;
import org.bouncycastle.operator.jcajce.JcaAlgorithmParametersConverter;
import org.bouncycastle.util.Store;

public class SmimePeer {
    static final String BC = "BC";
    static final Session SESSION = Session.getDefaultInstance(new Properties());

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        if (args.length == 2 && args[0].equals("batch")) {
            for (String line : Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8)) {
                if (line.isEmpty()) continue;
                System.out.println(runLine(line.split("\t")));
            }
        } else {
            String out = runLine(args);
            System.out.println(out);
            if (!out.startsWith("OK")) System.exit(1);
        }
    }

    static String runLine(String[] a) {
        try {
            switch (a[0]) {
                case "sign": return "OK " + sign(a);
                case "verify": return "OK " + verify(a);
                case "encrypt": return "OK " + encrypt(a);
                case "decrypt": return "OK " + decrypt(a);
                default: return "ERR unknown operation " + a[0];
            }
        } catch (Throwable e) {
            StringBuilder why = new StringBuilder(e.toString());
            for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) why.append(" <- ").append(c);
            return "ERR " + why.toString().replace('\n', ' ');
        }
    }

    static byte[] read(String path) throws IOException { return Files.readAllBytes(Paths.get(path)); }

    static X509Certificate cert(String path) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509", BC).generateCertificate(new ByteArrayInputStream(read(path)));
    }

    static PrivateKey key(String path) throws Exception {
        return new JcaPEMKeyConverter().setProvider(BC).getPrivateKey(PrivateKeyInfo.getInstance(read(path)));
    }

    // ------------------------------------------------------------------------------------ sign

    static String signatureAlgorithm(String alg) {
        String[] p = alg.split("-");  // rsa-sha256, rsa-pss-sha512, ecdsa-sha384
        String digest = p[p.length - 1].toUpperCase();
        if (alg.startsWith("rsa-pss")) return digest + "WITHRSAANDMGF1";
        if (alg.startsWith("ecdsa")) return digest + "WITHECDSA";
        return digest + "WITHRSA";
    }

    static String sign(String[] a) throws Exception {
        String alg = a[1], mode = a[2];
        PrivateKey key = key(a[3]);
        X509Certificate signer = cert(a[4]);
        List<X509Certificate> certs = new ArrayList<>(List.of(signer));
        if (!a[5].equals("-")) certs.add(cert(a[5]));

        ASN1EncodableVector attrs = new ASN1EncodableVector();
        SMIMECapabilityVector caps = new SMIMECapabilityVector();
        caps.addCapability(SMIMECapability.aES256_CBC);
        caps.addCapability(SMIMECapability.aES128_CBC);
        attrs.add(new SMIMECapabilitiesAttribute(caps));

        SMIMESignedGenerator gen = new SMIMESignedGenerator();
        gen.addSignerInfoGenerator(new JcaSimpleSignerInfoGeneratorBuilder().setProvider(BC)
                .setSignedAttributeGenerator(new org.bouncycastle.asn1.cms.AttributeTable(attrs))
                .build(signatureAlgorithm(alg), key, signer));
        gen.addCertificates(new JcaCertStore(certs));

        MimeBodyPart content = new MimeBodyPart(new ByteArrayInputStream(read(a[6])));
        MimeMessage msg = new MimeMessage(SESSION);
        msg.setFrom(new InternetAddress(a[8]));
        msg.setRecipient(Message.RecipientType.TO, new InternetAddress(a[9]));
        msg.setSubject("signed by Bouncy Castle (" + alg + ", " + mode + ")");
        if (mode.equals("detached")) {
            MimeMultipart mm = gen.generate(content);
            msg.setContent(mm, mm.getContentType());
        } else {
            MimeBodyPart opaque = gen.generateEncapsulated(content);
            msg.setContent(opaque.getContent(), opaque.getContentType());
            msg.setHeader("Content-Disposition", opaque.getHeader("Content-Disposition", null));
            msg.setHeader("Content-Transfer-Encoding", "base64");
        }
        msg.saveChanges();
        try (OutputStream out = Files.newOutputStream(Paths.get(a[7]))) { msg.writeTo(out); }
        return "signed " + signatureAlgorithm(alg) + " " + mode;
    }

    // ---------------------------------------------------------------------------------- verify

    static String verify(String[] a) throws Exception {
        X509Certificate root = cert(a[1]);
        MimeMessage msg;
        try (InputStream in = Files.newInputStream(Paths.get(a[2]))) { msg = new MimeMessage(SESSION, in); }
        SMIMESigned signed = msg.isMimeType("multipart/signed")
                ? new SMIMESigned((MimeMultipart) msg.getContent())
                : new SMIMESigned(msg);
        Store<X509CertificateHolder> store = signed.getCertificates();
        JcaX509CertificateConverter conv = new JcaX509CertificateConverter().setProvider(BC);
        StringBuilder facts = new StringBuilder();
        Collection<SignerInformation> signers = signed.getSignerInfos().getSigners();
        if (signers.isEmpty()) throw new CMSException("no signers");
        for (SignerInformation si : signers) {
            @SuppressWarnings("unchecked")
            Collection<X509CertificateHolder> found = store.getMatches(si.getSID());
            if (found.isEmpty()) throw new CMSException("signer certificate not in the message");
            X509Certificate signer = conv.getCertificate(found.iterator().next());
            if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider(BC).build(signer)))
                throw new CMSException("signature does not verify");
            chainTo(signer, root, store, conv);
            facts.append("sigalg=").append(si.getEncryptionAlgOID())
                 .append(" digest=").append(si.getDigestAlgOID())
                 .append(" signer=").append(signer.getSubjectX500Principal().getName("RFC2253").replace(' ', '_'))
                 .append(' ');
        }
        try (OutputStream out = Files.newOutputStream(Paths.get(a[3]))) { signed.getContent().writeTo(out); }
        return facts.toString().trim();
    }

    /** Walks issuer links through the message's certificates up to root, checking each signature and date. */
    static void chainTo(X509Certificate cert, X509Certificate root, Store<X509CertificateHolder> store,
                        JcaX509CertificateConverter conv) throws Exception {
        X509Certificate current = cert;
        for (int depth = 0; depth < 8; depth++) {
            current.checkValidity();
            if (current.getIssuerX500Principal().equals(root.getSubjectX500Principal())) {
                current.verify(root.getPublicKey(), BC);
                return;
            }
            X509Certificate issuer = null;
            for (X509CertificateHolder h : store.getMatches(null)) {
                X509Certificate c = conv.getCertificate(h);
                if (c.getSubjectX500Principal().equals(current.getIssuerX500Principal())) issuer = c;
            }
            if (issuer == null) throw new CertificateException("no issuer for " + current.getSubjectX500Principal());
            current.verify(issuer.getPublicKey(), BC);
            current = issuer;
        }
        throw new CertificateException("chain too long");
    }

    // --------------------------------------------------------------------------------- encrypt

    static ASN1ObjectIdentifier cipherOid(String cipher) {
        switch (cipher) {
            case "aes-128-cbc": return CMSAlgorithm.AES128_CBC;
            case "aes-256-cbc": return CMSAlgorithm.AES256_CBC;
            case "aes-128-gcm": return CMSAlgorithm.AES128_GCM;
            case "aes-256-gcm": return CMSAlgorithm.AES256_GCM;
            default: throw new IllegalArgumentException("cipher " + cipher);
        }
    }

    static RecipientInfoGenerator recipient(String kt, X509Certificate rc) throws Exception {
        switch (kt) {
            case "rsa":
                return new JceKeyTransRecipientInfoGenerator(rc).setProvider(BC);
            case "rsa-oaep": {
                OAEPParameterSpec spec = new OAEPParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT);
                AlgorithmIdentifier oaep = new JcaAlgorithmParametersConverter()
                        .getAlgorithmIdentifier(PKCSObjectIdentifiers.id_RSAES_OAEP, spec);
                return new JceKeyTransRecipientInfoGenerator(rc, oaep).setProvider(BC);
            }
            case "ecdh": {  // the RFC 5753 / RFC 8551 pairing of KDF hash and key wrap by curve size
                java.security.spec.ECParameterSpec params = ((java.security.interfaces.ECPublicKey) rc.getPublicKey()).getParams();
                int bits = params.getCurve().getField().getFieldSize();
                KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", BC);
                kpg.initialize(params);
                KeyPair eph = kpg.generateKeyPair();
                ASN1ObjectIdentifier scheme = bits <= 256 ? CMSAlgorithm.ECDH_SHA256KDF
                        : bits <= 384 ? CMSAlgorithm.ECDH_SHA384KDF : CMSAlgorithm.ECDH_SHA512KDF;
                ASN1ObjectIdentifier wrap = bits <= 256 ? CMSAlgorithm.AES128_WRAP : CMSAlgorithm.AES256_WRAP;
                return new JceKeyAgreeRecipientInfoGenerator(scheme, eph.getPrivate(), eph.getPublic(), wrap)
                        .addRecipient(rc).setProvider(BC);
            }
            default: throw new IllegalArgumentException("key transport " + kt);
        }
    }

    static String encrypt(String[] a) throws Exception {
        String cipher = a[1];
        RecipientInfoGenerator rig = recipient(a[2], cert(a[3]));
        CMSProcessableByteArray content = new CMSProcessableByteArray(read(a[4]));
        OutputEncryptor enc = new JceCMSContentEncryptorBuilder(cipherOid(cipher)).setProvider(BC).build();
        byte[] der;
        if (cipher.endsWith("-gcm")) {
            CMSAuthEnvelopedDataGenerator gen = new CMSAuthEnvelopedDataGenerator();
            gen.addRecipientInfoGenerator(rig);
            der = gen.generate(content, (OutputAEADEncryptor) enc).getEncoded();
        } else {
            CMSEnvelopedDataGenerator gen = new CMSEnvelopedDataGenerator();
            gen.addRecipientInfoGenerator(rig);
            der = gen.generate(content, enc).getEncoded();
        }
        Files.write(Paths.get(a[5]), der);
        return "encrypted " + cipher + " " + a[2] + " bytes=" + der.length;
    }

    // --------------------------------------------------------------------------------- decrypt

    static String decrypt(String[] a) throws Exception {
        PrivateKey key = key(a[1]);
        X509Certificate rc = cert(a[2]);
        ContentInfo ci = ContentInfo.getInstance(ASN1Primitive.fromByteArray(read(a[3])));
        boolean auth = ci.getContentType().equals(CMSObjectIdentifiers.authEnvelopedData);
        RecipientInformationStore ris;
        String contentAlg;
        if (auth) {
            CMSAuthEnvelopedData d = new CMSAuthEnvelopedData(ci);
            ris = d.getRecipientInfos();
            contentAlg = org.bouncycastle.asn1.cms.AuthEnvelopedData.getInstance(ci.getContent())
                    .getAuthEncryptedContentInfo().getContentEncryptionAlgorithm().getAlgorithm().getId();
        } else {
            CMSEnvelopedData d = new CMSEnvelopedData(ci);
            ris = d.getRecipientInfos();
            contentAlg = d.getEncryptionAlgOID();
        }
        boolean ec = !rc.getPublicKey().getAlgorithm().equals("RSA");  // EC or X25519: key agreement
        RecipientId rid = ec ? new JceKeyAgreeRecipientId(rc) : new JceKeyTransRecipientId(rc);
        RecipientInformation ri = ris.get(rid);
        if (ri == null) throw new CMSException("no recipient info for this certificate");
        Recipient recipient = ec ? new JceKeyAgreeEnvelopedRecipient(key).setProvider(BC)
                : auth ? new JceKeyTransAuthEnvelopedRecipient(key).setProvider(BC)
                : new JceKeyTransEnvelopedRecipient(key).setProvider(BC);
        byte[] out = ri.getContent(recipient);
        Files.write(Paths.get(a[4]), out);
        return (auth ? "authEnvelopedData" : "envelopedData") + " content=" + contentAlg
                + " keyenc=" + ri.getKeyEncryptionAlgOID() + " bytes=" + out.length;
    }
}
