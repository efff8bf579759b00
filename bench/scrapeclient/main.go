// scrapeclient: make bench's scraper. It fetches a /metrics URL as Prometheus does, over
// one keep-alive connection per worker, and prints one line of results: latency
// percentiles, bytes, errors and the connections and TLS handshakes it needed. It is
// not a load generator: workers scrape back to back, each waiting for its last answer.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	lat    []time.Duration
	sums   []float64 // per scrape: the sum of -sum-metric's samples
	bytes  int64
	errors int
	series int
}

func main() {
	url := flag.String("url", "", "URL to scrape")
	n := flag.Int("n", 100, "scrapes per worker (after the warm-up)")
	workers := flag.Int("workers", 1, "concurrent scrapers, one connection each")
	warmup := flag.Int("warmup", 2, "scrapes per worker before measuring (connect, handshake)")
	gz := flag.Bool("gzip", false, "send Accept-Encoding: gzip (bytes are then compressed bytes)")
	token := flag.String("token", "", "bearer token")
	basic := flag.String("basic", "", "user:password for basic auth")
	caFile := flag.String("cafile", "", "CA to verify the server with; without it, TLS is not verified")
	sumMetric := flag.String("sum-metric", "", "sum this metric's samples in each page and report their p50/p99")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "scrapeclient: -url is required")
		os.Exit(2)
	}
	tlsConf := &tls.Config{InsecureSkipVerify: true}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scrapeclient:", err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsConf = &tls.Config{RootCAs: pool}
	}
	var conns, handshakes atomic.Int64
	trace := &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				conns.Add(1)
			}
		},
		TLSHandshakeDone: func(tls.ConnectionState, error) { handshakes.Add(1) },
	}
	results := make([]result, *workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	var ready sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		ready.Add(1)
		go func(r *result) {
			defer wg.Done()
			// One transport per worker: its own connection, kept alive, as one Prometheus
			// scrape loop has. DisableCompression: the body is counted as it came.
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				TLSClientConfig: tlsConf.Clone(), MaxIdleConnsPerHost: 1,
				DisableCompression: true, IdleConnTimeout: time.Minute}}
			for i := 0; i < *warmup; i++ {
				scrape(client, *url, *gz, *token, *basic, *sumMetric, trace, nil)
			}
			ready.Done()
			<-start
			for i := 0; i < *n; i++ {
				scrape(client, *url, *gz, *token, *basic, *sumMetric, trace, r)
			}
		}(&results[w])
	}
	ready.Wait()
	warmConns, warmHandshakes := conns.Load(), handshakes.Load()
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	var all result
	for _, r := range results {
		all.lat = append(all.lat, r.lat...)
		all.sums = append(all.sums, r.sums...)
		all.bytes += r.bytes
		all.errors += r.errors
		all.series = max(all.series, r.series)
	}
	sort.Slice(all.lat, func(i, j int) bool { return all.lat[i] < all.lat[j] })
	sort.Float64s(all.sums)
	fmt.Printf("requests %d errors %d bytes %d series %d wall_s %.3f p50_ms %.3f p99_ms %.3f "+
		"max_ms %.3f conns %d handshakes %d warmup_conns %d warmup_handshakes %d",
		len(all.lat)+all.errors, all.errors, all.bytes, all.series, wall.Seconds(),
		ms(pct(all.lat, 0.50)), ms(pct(all.lat, 0.99)), ms(pct(all.lat, 1)),
		conns.Load()-warmConns, handshakes.Load()-warmHandshakes, warmConns, warmHandshakes)
	if *sumMetric != "" {
		fmt.Printf(" sum_p50 %g sum_p99 %g", fpct(all.sums, 0.50), fpct(all.sums, 0.99))
	}
	fmt.Println()
}

// scrape fetches the page once; r nil is a warm-up (nothing recorded).
func scrape(c *http.Client, url string, gz bool, token, basic, sumMetric string,
	trace *httptrace.ClientTrace, r *result) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		fail(r, err)
		return
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	// Prometheus's own Accept header (text format first, as the agent serves it).
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if user, pass, ok := strings.Cut(basic, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		fail(r, err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat := time.Since(t0)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	if err != nil {
		fail(r, err)
		return
	}
	if r == nil {
		return
	}
	r.lat = append(r.lat, lat)
	r.bytes += int64(len(body))
	if r.series == 0 || sumMetric != "" {
		text := body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err == nil {
				text, err = io.ReadAll(zr)
			}
			if err != nil {
				fail(r, err)
				return
			}
		}
		series, sum := parse(text, sumMetric)
		r.series = series
		if sumMetric != "" {
			r.sums = append(r.sums, sum)
		}
	}
}

// parse counts the samples of a text-format page and sums those of one metric.
func parse(text []byte, metric string) (int, float64) {
	series, sum := 0, 0.0
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series++
		if metric == "" || !strings.HasPrefix(line, metric) {
			continue
		}
		if rest := line[len(metric):]; rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return series, sum
}

func fail(r *result, err error) {
	fmt.Fprintln(os.Stderr, "scrapeclient:", err)
	if r != nil {
		r.errors++
	}
}

// rank is the nearest-rank index of percentile p among n sorted values.
func rank(n int, p float64) int {
	return max(0, min(n-1, int(math.Ceil(p*float64(n)))-1))
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[rank(len(d), p)]
}

func fpct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[rank(len(v), p)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
