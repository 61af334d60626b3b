# A gem with an executable, written for rtbuild's tests.
require 'jmespath'
require 'greeter_punctuation'

module Greeter
  def self.greeting(name)
    "hello, #{JMESPath.search('who.name', 'who' => { 'name' => name })}#{PUNCTUATION}"
  end
end
