package lake

import (
	"fmt"
	"sync"

	"github.com/apache/iceberg-go"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/trstream/trstream/plugins/txn"
)

var (
	schemaOnce    sync.Once
	icebergSchema *iceberg.Schema
	schemaErr     error
	// parquetSchema is the lake's file schema, from txn.Transaction's tags.
	parquetSchema = parquet.SchemaOf(txn.Transaction{})
)

// Schema returns the Iceberg schema of the transactions table, derived from
// the Parquet tags of txn.Transaction: field ids 1… in declaration order,
// optional tags become optional fields, timestamp(microsecond) becomes
// timestamptz (parquet-go marks it adjusted to UTC), decimal(4:18) becomes
// decimal(18, 4).
func Schema() (*iceberg.Schema, error) {
	schemaOnce.Do(func() {
		var fields []iceberg.NestedField
		for i, f := range parquetSchema.Fields() {
			typ, err := icebergType(f)
			if err != nil {
				schemaErr = fmt.Errorf("column %s: %w", f.Name(), err)
				return
			}
			fields = append(fields, iceberg.NestedField{
				ID: i + 1, Name: f.Name(), Type: typ, Required: !f.Optional(),
			})
		}
		icebergSchema = iceberg.NewSchema(0, fields...)
	})
	return icebergSchema, schemaErr
}

func icebergType(f parquet.Field) (iceberg.Type, error) {
	t := f.Type()
	if lt := t.LogicalType(); lt != nil {
		switch v := lt.Value.(type) {
		case *format.StringType:
			return iceberg.PrimitiveTypes.String, nil
		case *format.TimestampType:
			if _, ok := v.Unit.Value.(*format.MicroSeconds); !ok {
				return nil, fmt.Errorf("only microsecond timestamps are supported")
			}
			if v.IsAdjustedToUTC {
				return iceberg.PrimitiveTypes.TimestampTz, nil
			}
			return iceberg.PrimitiveTypes.Timestamp, nil
		case *format.DecimalType:
			return iceberg.DecimalTypeOf(int(v.Precision), int(v.Scale)), nil
		case *format.DateType:
			return iceberg.PrimitiveTypes.Date, nil
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return iceberg.PrimitiveTypes.Bool, nil
	case parquet.Int32:
		return iceberg.PrimitiveTypes.Int32, nil
	case parquet.Int64:
		return iceberg.PrimitiveTypes.Int64, nil
	case parquet.Float:
		return iceberg.PrimitiveTypes.Float32, nil
	case parquet.Double:
		return iceberg.PrimitiveTypes.Float64, nil
	case parquet.ByteArray:
		return iceberg.PrimitiveTypes.Binary, nil
	}
	return nil, fmt.Errorf("unsupported parquet type %s", t)
}

// columnID returns the Iceberg field id of a column, or 0.
func columnID(name string) int {
	for i, f := range parquetSchema.Fields() {
		if f.Name() == name {
			return i + 1
		}
	}
	return 0
}
