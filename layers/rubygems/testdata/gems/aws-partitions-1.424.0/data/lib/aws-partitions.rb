# frozen_string_literal: true

# A stand-in for aws-partitions written for rtbuild's tests (not the published gem).
require 'json'

module Aws
  module Partitions
    def self.regions
      path = File.expand_path('../partitions.json', __dir__)
      JSON.parse(File.read(path))['partitions'].flat_map { |p| p['regions'].keys }
    end
  end
end
