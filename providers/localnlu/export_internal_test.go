package localnlu

import (
	"testing"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/stretchr/testify/require"
)

func phrase(parts ...string) *cxpb.Intent_TrainingPhrase {
	tp := &cxpb.Intent_TrainingPhrase{}
	for _, p := range parts {
		tp.Parts = append(tp.Parts, &cxpb.Intent_TrainingPhrase_Part{Text: p})
	}
	return tp
}

func TestTrainingPhrasesJoinPartsAndDropUnusableOnes(t *testing.T) {
	in := &cxpb.Intent{TrainingPhrases: []*cxpb.Intent_TrainingPhrase{
		phrase("track order ", "12345"),        // a parameter-annotated part
		phrase("  where is", "  my   parcel "), // spacing is normalised
		phrase("track order 12345"),            // repeats the first
		phrase("?!"),                           // no words
		phrase(),                               // no parts
		phrase("hi"),
	}}

	require.Equal(t, []string{"track order 12345", "where is my parcel", "hi"}, trainingPhrases(in))
}
