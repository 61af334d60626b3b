# frozen_string_literal: true

# A stand-in for aws-sdk-core written for rtbuild's tests (not the published gem).
require 'aws-eventstream'
require 'aws-sigv4'
require 'aws-partitions'
require 'jmespath'
require_relative 'aws-sdk-core/version'
