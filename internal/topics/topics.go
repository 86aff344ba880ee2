// Package topics applies the topic definitions in redpanda/topics.yaml to a
// Kafka-protocol cluster: the bootstrap step of compose and of `trstream dev`.
package topics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"gopkg.in/yaml.v3"
)

// Topic is one topic definition.
type Topic struct {
	Name              string            `yaml:"name"`
	Partitions        int32             `yaml:"partitions"`
	ReplicationFactor int16             `yaml:"replication_factor"`
	Configs           map[string]string `yaml:"configs"`
}

// File is the document form of redpanda/topics.yaml.
type File struct {
	Topics []Topic `yaml:"topics"`
}

// Load reads and checks a topics file.
func Load(path string) ([]Topic, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, t := range f.Topics {
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("%s: topics[%d].name: required", path, i)
		case t.Partitions < 1:
			return nil, fmt.Errorf("%s: topics[%d].partitions: must be at least 1", path, i)
		case t.ReplicationFactor < 1:
			return nil, fmt.Errorf("%s: topics[%d].replication_factor: must be at least 1", path, i)
		}
	}
	return f.Topics, nil
}

// Result says what Apply did to one topic.
type Result struct {
	Topic  string
	Action string // created, updated, unchanged
}

// Apply creates missing topics, sets configs of existing ones, and adds
// partitions where a topic has fewer than defined. It never deletes data or
// removes partitions. rf, when positive, overrides every replication factor.
func Apply(ctx context.Context, adm *kadm.Client, defs []Topic, rf int16) ([]Result, error) {
	var out []Result
	for _, t := range defs {
		if rf > 0 {
			t.ReplicationFactor = rf
		}
		configs := make(map[string]*string, len(t.Configs))
		for k, v := range t.Configs {
			configs[k] = &v
		}
		resp, err := adm.CreateTopic(ctx, t.Partitions, t.ReplicationFactor, configs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err == nil {
			out = append(out, Result{t.Name, "created"})
			continue
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return out, fmt.Errorf("creating topic %s: %w", t.Name, err)
		}
		details, err := adm.ListTopics(ctx, t.Name)
		if err != nil {
			return out, fmt.Errorf("describing topic %s: %w", t.Name, err)
		}
		detail := details[t.Name]
		action := "unchanged"
		if have := int32(len(detail.Partitions)); have < t.Partitions {
			if _, err := adm.UpdatePartitions(ctx, int(t.Partitions), t.Name); err != nil {
				return out, fmt.Errorf("adding partitions to %s: %w", t.Name, err)
			}
			action = "updated"
		}
		if len(configs) > 0 {
			var alters []kadm.AlterConfig
			for k, v := range configs {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
			}
			resps, err := adm.AlterTopicConfigs(ctx, alters, t.Name)
			if err == nil {
				for _, r := range resps {
					err = errors.Join(err, r.Err)
				}
			}
			if err != nil {
				return out, fmt.Errorf("setting configs of %s: %w", t.Name, err)
			}
		}
		out = append(out, Result{t.Name, action})
	}
	return out, nil
}
