# A stand-in for jmespath written for rtbuild's tests (not the published gem).
module JMESPath
  VERSION = File.read(File.expand_path('../VERSION', __dir__)).strip

  # search supports one expression form: a dotted path of keys.
  def self.search(expression, data)
    expression.split('.').reduce(data) { |d, key| d.is_a?(Hash) ? d[key] : nil }
  end
end
