"""ApiFunction: the LogQS REST API on Powertools' APIGatewayRestResolver."""
