package node

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// BenchmarkIssueRateLimited measures what the rate limits cost
// IssuePermit at 50 concurrent callers, side by side in one run: on bbolt
// (buckets in memory) and on a redis-server of its own (appendfsync
// always; buckets and overrides on Redis), each with the limits off and
// on (limits too high to refuse anything, so every call pays for the
// override lookup and both buckets, caller and citizen).
func BenchmarkIssueRateLimited(b *testing.B) {
	lax := LimitsConfig{MutationsPerSecond: 1e6, MutationBurst: 1_000_000, CitizenMutationsPerMinute: 6e7, CitizenMutationBurst: 1_000_000}
	for _, backend := range []string{"bbolt", "redis"} {
		for _, limits := range []struct {
			name string
			cfg  LimitsConfig
		}{{"off", LimitsConfig{}}, {"on", lax}} {
			b.Run(backend+"/"+limits.name, func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Listen, cfg.Data, cfg.Limits = "127.0.0.1:0", b.TempDir(), limits.cfg
				if backend == "redis" {
					cfg.Store = redistest.Start(b).URL()
				}
				n, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				go n.Serve()
				defer n.Shutdown(context.Background())
				var permits []epermitv1.PermitServiceClient
				token := benchClerk(b, n)
				for range 4 {
					c, err := grpc.NewClient(n.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
						grpc.WithPerRPCCredentials(bearer(token)))
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					permits = append(permits, epermitv1.NewPermitServiceClient(c))
				}
				ids := citizenid.NewGenerator(2027)
				reqs := make([]*epermitv1.IssuePermitRequest, b.N)
				for i := range reqs {
					reqs[i] = &epermitv1.IssuePermitRequest{
						RequestId: client.NewRequestID(),
						Holder: &epermitv1.Holder{Name: "测试者丙", CitizenId: ids.Next(), Ethnicity: "汉",
							HukouAddress: "安徽省阜阳市测试县测试镇5号"},
						ResidenceAddress: "浙江省绍兴市上虞区百官街道测试路8号",
					}
				}
				atConcurrency(b, func(i int) error {
					_, err := permits[i%len(permits)].IssuePermit(context.Background(), reqs[i])
					return err
				})
			})
		}
	}
}
