// Package txn is trstream's one transaction schema: the Go type, its JSON
// form on the wire, its Parquet form in the lake, and its validation.
//
// Every plugin speaks this type. The wire form is a flat JSON object whose
// keys are the Parquet column names, so a row read back from the lake and an
// event read off the topic have the same shape.
package txn
