package lake

import "github.com/redpanda-data/benthos/v4/public/service"

// lakeS3Field is the s3 object shared by parquet_lake and lake_compact.
func lakeS3Field() *service.ConfigField {
	return service.NewObjectField(plFieldS3,
		service.NewStringField(plFieldS3Endpoint).
			Description("Endpoint of an S3-compatible store; empty uses AWS (or `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`).").
			Default("").Example("http://localhost:9000"),
		service.NewStringField(plFieldS3Region).
			Description("Region; empty uses `AWS_REGION`, `AWS_DEFAULT_REGION`, else us-east-1.").
			Default("").Example("eu-west-1"),
		service.NewStringField(plFieldS3AccessKeyID).
			Description("Static access key id; empty uses `AWS_ACCESS_KEY_ID` or the default AWS credential chain.").
			Default(""),
		service.NewStringField(plFieldS3SecretAccessKey).
			Description("Static secret access key; empty uses `AWS_SECRET_ACCESS_KEY`.").
			Default("").Secret(),
		service.NewBoolField(plFieldS3ForcePathStyle).
			Description("Address buckets as `<endpoint>/<bucket>` (needed by most self-hosted stores such as MinIO).").
			Default(false),
	).Description("S3 access, used when `path` is `s3://…`.").Advanced()
}

// parseLakeS3 reads the s3 object of lakeS3Field.
func parseLakeS3(conf *service.ParsedConfig) (S3Options, error) {
	var s3 S3Options
	if !conf.Contains(plFieldS3) {
		return s3, nil
	}
	sc := conf.Namespace(plFieldS3)
	var err error
	if s3.Endpoint, err = sc.FieldString(plFieldS3Endpoint); err != nil {
		return s3, err
	}
	if s3.Region, err = sc.FieldString(plFieldS3Region); err != nil {
		return s3, err
	}
	if s3.AccessKeyID, err = sc.FieldString(plFieldS3AccessKeyID); err != nil {
		return s3, err
	}
	if s3.SecretAccessKey, err = sc.FieldString(plFieldS3SecretAccessKey); err != nil {
		return s3, err
	}
	if s3.ForcePathStyle, err = sc.FieldBool(plFieldS3ForcePathStyle); err != nil {
		return s3, err
	}
	return s3, nil
}
