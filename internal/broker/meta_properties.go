package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The meta.properties file names the node and the cluster a data directory
// belongs to, in Kafka's format (version=1, node.id, cluster.id), so a
// directory moved to another node, or copied from another cluster, is
// refused before anything in it is touched.

// readMetaProperties returns the node id and cluster id in dir's
// meta.properties; found is false when there is no such file.
func readMetaProperties(dir string) (node int32, cluster string, found bool, err error) {
	f, err := os.Open(filepath.Join(dir, metaPropertiesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	defer f.Close()
	node = -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch {
		case !ok:
		case k == "node.id":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return 0, "", false, fmt.Errorf("%s: node.id %q", metaPropertiesFile, v)
			}
			node = int32(n)
		case k == "cluster.id":
			cluster = v
		}
	}
	return node, cluster, true, sc.Err()
}

// checkMetaProperties refuses a data directory that belongs to another
// node.
func checkMetaProperties(dir string, node int32) error {
	have, _, found, err := readMetaProperties(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", metaPropertiesFile, err)
	}
	if found && have != node {
		return fmt.Errorf("the data directory %s belongs to node %d, not node %d (its %s says so): give each node its own directory",
			dir, have, node, metaPropertiesFile)
	}
	return nil
}

// writeMetaProperties records node and cluster in dir's meta.properties,
// unless it already does, and refuses a directory of another cluster.
func writeMetaProperties(dir string, node int32, cluster string) error {
	_, have, found, err := readMetaProperties(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", metaPropertiesFile, err)
	}
	switch {
	case found && have == cluster:
		return nil
	case found && have != "":
		return fmt.Errorf("the data directory %s belongs to cluster %s, but the metadata quorum is cluster %s", dir, have, cluster)
	}
	data := fmt.Sprintf("#Written by Strata\nversion=1\nnode.id=%d\ncluster.id=%s\n", node, cluster)
	tmp := filepath.Join(dir, metaPropertiesFile+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, metaPropertiesFile))
}
