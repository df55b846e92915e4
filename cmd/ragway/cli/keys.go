package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/policies/keys/stores"
	"github.com/ragway/ragway/policies/rbac"
)

const keysUsage = `Usage:
  ragway keys create --tenant T --name N [--role R,...] [--models GLOB,...] [--expires DURATION] [--config FILE]
  ragway keys list   --tenant T [--json] [--config FILE]
  ragway keys revoke --tenant T ID [--config FILE]
  ragway keys rotate --tenant T ID [--config FILE]

Keys are stored where the config's auth.keys says (the data dir by default).
A new key is printed once; only its hash is stored.
`

// keysCmd manages API keys directly in the key store.
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return usageError{"keys: missing subcommand"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (default: built-in defaults)")
	dataDir := fs.String("data-dir", "", "data directory, overriding data_dir")
	tenant := fs.String("tenant", "", "tenant owning the key (required)")
	name := fs.String("name", "", "key name (create)")
	roles := fs.String("role", "user", "comma-separated roles (create)")
	models := fs.String("models", "", "comma-separated model globs the key is limited to (create)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h; 0 never expires (create)")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	ids, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if *tenant == "" {
		return usageError{"keys: --tenant is required"}
	}
	cfg, err := loadConfig(*path, getenv)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if sub == "create" {
		authz := rbac.New(cfg.Roles)
		for _, r := range splitList(*roles) {
			if !authz.Known(r) {
				return usageError{fmt.Sprintf("keys create: unknown role %q", r)}
			}
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	store, err := stores.Open(ctx, cfg.Auth.Keys, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("open key store: %w", err)
	}
	defer store.Close()
	svc := keys.NewService(store, cfg.Auth.Keys.ServiceOptions())
	switch sub {
	case "create":

		rec, secret, err := svc.Create(ctx, keys.CreateRequest{Tenant: *tenant, Name: *name, Roles: splitList(*roles),
			Models: splitList(*models), ExpiresIn: *expires})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", secret.Reveal())
		fmt.Fprintf(stderr, "created key %s for tenant %s (roles %s); it is shown only once\n", rec.ID, rec.Tenant, strings.Join(rec.Roles, ","))
		return nil
	case "list":
		recs, err := svc.List(ctx, *tenant)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(recs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKEY\tROLES\tMODELS\tCREATED\tEXPIRES\tSTATUS")
		now := time.Now()
		for _, r := range recs {
			status := "active"
			if !r.Active(now) {
				status = "inactive"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Masked(), strings.Join(r.Roles, ","),
				strings.Join(r.Models, ","), r.CreatedAt.Format(time.RFC3339), fmtTime(r.ExpiresAt), status)
		}
		return tw.Flush()
	case "revoke", "rotate":
		if len(ids) != 1 {
			return usageError{"keys " + sub + ": exactly one key ID is required"}
		}
		if sub == "revoke" {
			if err := svc.Revoke(ctx, *tenant, ids[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %s\n", ids[0])
			return nil
		}
		rec, secret, err := svc.Rotate(ctx, *tenant, ids[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", secret.Reveal())
		fmt.Fprintf(stderr, "rotated %s into %s; the new key is shown only once\n", ids[0], rec.ID)
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return usageError{fmt.Sprintf("keys: unknown subcommand %q", sub)}
}

func loadConfig(path string, getenv func(string) string) (*config.Config, error) {
	if path == "" {
		return config.Default(getenv)
	}
	return config.Load(path, getenv)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}
