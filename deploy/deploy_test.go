// Package deploy_test checks the deploy files as an operator's cluster
// and CI would: the Kubernetes manifest decoded strictly against the API
// types (no cluster is reachable here), and the production config passing
// check-config with the files and variables the manifest provides.
package deploy_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/identity"
)

type manifest struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
}

// load decodes every document of the manifest strictly: an unknown or
// misspelt field fails, as kubectl apply --validate=strict would.
func load(t *testing.T) manifest {
	t.Helper()
	raw, err := os.ReadFile("kubernetes/authgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		var into any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			m.deployment = &appsv1.Deployment{}
			into = m.deployment
		case "v1 Service":
			m.service = &corev1.Service{}
			into = m.service
		case "policy/v1 PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			into = m.pdb
		case "autoscaling/v2 HorizontalPodAutoscaler":
			m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			into = m.hpa
		default:
			t.Fatalf("unexpected document %s %s", meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	if m.deployment == nil || m.service == nil || m.pdb == nil || m.hpa == nil {
		t.Fatalf("manifest lacks a Deployment, Service, PodDisruptionBudget or HorizontalPodAutoscaler")
	}
	return m
}

func TestKubernetesManifest(t *testing.T) {
	m := load(t)
	pod := m.deployment.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if i := strings.LastIndex(c.Image, ":"); i < 0 || strings.HasSuffix(c.Image, ":latest") || strings.Contains(c.Image[i:], "/") {
		t.Errorf("image %q has no released tag", c.Image)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("enableServiceLinks is not false")
	}
	if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil || len(pod.TopologySpreadConstraints) == 0 {
		t.Error("replicas are not spread (anti-affinity and topology spread)")
	}
	if pdb := m.pdb.Spec; pdb.MaxUnavailable == nil || pdb.MaxUnavailable.IntValue() != 1 || pdb.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget %+v, want maxUnavailable: 1 so a drain can proceed", pdb)
	}
	if ref := m.hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != m.deployment.Name || *m.hpa.Spec.MinReplicas < 2 {
		t.Errorf("HorizontalPodAutoscaler %+v", m.hpa.Spec)
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.ReadinessProbe, "/readyz"}, {c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "admin" {
			t.Errorf("probe %s is not on the admin port", p.path)
		}
	}
	for _, e := range c.Env {
		if e.Name == "POD_IP" {
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Errorf("POD_IP is not the pod's IP")
			}
			continue
		}
		if !strings.HasPrefix(e.Name, "AUTHGATE_SECRET_") && !strings.HasPrefix(e.Name, config.EnvPrefix) {
			t.Errorf("env %s is under neither AUTHGATE_SECRET_ nor %s", e.Name, config.EnvPrefix)
		}
		if strings.HasPrefix(e.Name, "AUTHGATE_SECRET_") && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("secret %s is not read from a Secret", e.Name)
		}
	}
	for _, v := range pod.Volumes {
		if v.Name == "files" && v.Secret == nil {
			t.Error("the users and apps files (hashes) are not in a Secret")
		}
	}
	if got := *pod.TerminationGracePeriodSeconds; got < 25+5 {
		t.Errorf("terminationGracePeriodSeconds %d does not cover drain_delay and shutdown_timeout", got)
	}
}

// TestProductionConfigChecksWithTheManifestsFiles lays the files out as
// the manifest mounts them (the ConfigMap at /etc/authgate/config, the
// Secret authgate-files at /etc/authgate/secrets), sets the variables its
// secretKeyRefs provide, and builds the gateway as check-config does: no
// problem, no warning, no demo identity.
func TestProductionConfigChecksWithTheManifestsFiles(t *testing.T) {
	m := load(t)
	root := t.TempDir()
	c := m.deployment.Spec.Template.Spec.Containers[0]
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = filepath.Join(root, vm.MountPath)
		if err := os.MkdirAll(mounts[vm.Name], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(root, c.Args[slices.Index(c.Args, "-config")+1])
	prod, err := os.ReadFile("config.production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(prod, []byte("deploy/demo")) || bytes.Contains(prod, []byte("type: log")) {
		t.Fatal("the production config uses demo files or the log SMS sender")
	}
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfgPath, prod)
	hash, err := identity.HashSecret("a-real-password")
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(mounts["files"], "users.yaml"), []byte("users:\n  - id: 1\n    account: alice\n    password_hash: \""+hash+"\"\n    companies: [1]\n    default_company: 1\n"))
	write(filepath.Join(mounts["files"], "apps.yaml"), []byte("apps:\n  - app_id: partner\n    app_key: k\n    app_secret_hash: \""+hash+"\"\n    login_user: { id: 1, user_org: { org: { type: SAAS } } }\n"))
	// The variables as the kubelet gives them: a Secret's value, the pod's
	// IP, and $(VAR) references expanded.
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = "10.42.0.7"
		case e.ValueFrom != nil:
			env[e.Name] = "secret-from-the-cluster-0123456789abcdef"
		default:
			env[e.Name] = os.Expand(strings.ReplaceAll(strings.ReplaceAll(e.Value, "$(", "${"), ")", "}"), func(k string) string { return env[k] })
		}
	}
	if got := env["AUTHGATE_CFG__SERVER__ADMIN_LISTEN"]; got != "10.42.0.7:9090" {
		t.Errorf("the admin listener of the manifest is %q, want the pod IP", got)
	}
	env["AUTHGATE_SECRET_BOV3_DES"] = "8bytekey"
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	cfg, err := config.Load(cfgPath, environ)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.AdminListen != "10.42.0.7:9090" {
		t.Errorf("server.admin_listen in the pod = %q, want the pod's own IP", cfg.Server.AdminListen)
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	store, err := backend.OpenStore(cfg, lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	g, err := gateway.New(cfg, gateway.Options{Registry: builtin.Registry(), Store: store, LookupEnv: lookup,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(&logs), nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if w := g.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
	if strings.Contains(logs.String(), "DEMO") {
		t.Errorf("demo warning on the production config:\n%s", logs.String())
	}
	if cfg.Store.Driver != "redis" {
		t.Errorf("store %q, want redis", cfg.Store.Driver)
	}
}

// TestImageAndCompose: the image carries no config, users or keys and
// checks its own health; compose builds once and both replicas run that
// image with health checks.
func TestImageAndCompose(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(df), "\n") {
		if strings.HasPrefix(line, "COPY") && (strings.Contains(line, "config") || strings.Contains(line, "demo")) {
			t.Errorf("the image carries a config or demo files: %s", line)
		}
	}
	if !strings.Contains(string(df), `HEALTHCHECK`) || !strings.Contains(string(df), `"healthcheck"`) {
		t.Error("the image has no HEALTHCHECK through the healthcheck command")
	}
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string         `json:"image"`
			Build       map[string]any `json:"build"`
			Healthcheck map[string]any `json:"healthcheck"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	a, b := compose.Services["gateway-a"], compose.Services["gateway-b"]
	if a.Image == "" || a.Image != b.Image || a.Build == nil || b.Build != nil {
		t.Errorf("replicas: a %+v, b %+v; want one build, one image", a, b)
	}
	for name, s := range compose.Services {
		if s.Healthcheck == nil {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
}
