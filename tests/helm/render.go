// render: renders a Helm chart's templates as `helm template` does, for checking a chart where
// no helm binary is packaged (Debian has Go and Helm's template library, sprig).
// It follows Helm's engine: every file under templates/ is parsed into one template set (named
// by its path, so partials in _*.tpl are shared), files whose name starts with "_" are not
// rendered, values are values.yaml deep-merged with each -f file in order, and the functions are
// sprig's plus Helm's own: include, tpl, toYaml, fromYaml, toJson, required, lookup (empty, as in
// `helm template`). Missing keys render as empty strings, as in Helm.
// Usage: render <chart-dir> <release> <namespace> [values.yaml ...] > manifests.yaml
// It also writes the merged values as JSON to $VALUES_JSON when set (for the schema check).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

// merge deep-merges src into dst (maps merge, everything else replaces), as Helm merges values.
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if sv, ok := v.(map[string]interface{}); ok {
			if dv, ok := dst[k].(map[string]interface{}); ok {
				merge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

func loadYAML(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: render <chart-dir> <release> <namespace> [values.yaml ...]")
		os.Exit(2)
	}
	dir, release, ns := os.Args[1], os.Args[2], os.Args[3]
	chart, err := loadYAML(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		fail(err)
	}
	values, err := loadYAML(filepath.Join(dir, "values.yaml"))
	if err != nil {
		fail(err)
	}
	for _, f := range os.Args[4:] {
		m, err := loadYAML(f)
		if err != nil {
			fail(err)
		}
		merge(values, m)
	}
	if out := os.Getenv("VALUES_JSON"); out != "" {
		b, _ := json.Marshal(values)
		if err := os.WriteFile(out, b, 0o644); err != nil {
			fail(err)
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{"Name": release, "Namespace": ns, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Chart": map[string]interface{}{"Name": chart["name"], "Version": chart["version"],
			"AppVersion": chart["appVersion"]},
		"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{
			"Version": "v1.29.0", "Major": "1", "Minor": "29"}},
	}
	t := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var b bytes.Buffer
		err := t.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		if _, err := c.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var b bytes.Buffer
		err = c.ExecuteTemplate(&b, "tpl", data)
		return b.String(), err
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		_ = yaml.Unmarshal([]byte(s), &m)
		return m
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) map[string]interface{} {
		return map[string]interface{}{}
	}
	t.Funcs(funcs)
	var files []string
	err = filepath.Walk(filepath.Join(dir, "templates"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		fail(err)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fail(err)
		}
		rel, _ := filepath.Rel(dir, f)
		if _, err := t.New(rel).Parse(string(b)); err != nil {
			fail(err)
		}
	}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		if strings.HasPrefix(filepath.Base(f), "_") || !strings.HasSuffix(f, ".yaml") {
			continue
		}
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, rel, top); err != nil {
			fail(err)
		}
		out := strings.ReplaceAll(b.String(), "<no value>", "")
		for _, doc := range strings.Split(out, "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			fmt.Printf("---\n# Source: %s/%s\n%s\n", chart["name"], rel, strings.Trim(doc, "\n"))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "render:", err)
	os.Exit(1)
}
